"""The Gradio web app: layout, event handlers, the chat stream, rendering and the request policy.

Gradio is imported here first, without its MCP server: Gradio 6 imports the `mcp` package (which
vLLM's server installs) while defining `GradioMCPServer`, and skips it when it is missing ("to avoid
needing to install `mcp` when not using this class"). The app never serves MCP (`mcp_server` stays
off), and that import was 0.57 s of Gradio's ~4 s on the path to the first page (2-core machine;
`python -X importtime -c "import gradio"`). So `mcp` looks missing for the length of this one
import and is importable again afterwards (vLLM's own imports are unaffected).
"""

import sys

_HIDDEN = "mcp"
_hide = _HIDDEN not in sys.modules  # already imported by someone else: nothing to save
if _hide:
    sys.modules[_HIDDEN] = None  # type: ignore[assignment]  # `import mcp` raises ImportError
try:
    import gradio  # noqa: F401
finally:
    if _hide:
        del sys.modules[_HIDDEN]
