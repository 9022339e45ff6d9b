"""The Gradio web app: layout, event handlers, the chat stream, rendering and the request policy."""
