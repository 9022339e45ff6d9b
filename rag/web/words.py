"""The words of the UI in English and Japanese. The browser's language picks them, in the page
(Gradio's i18n: the translations travel in the page config and the front end looks the keys up
by `navigator.language`); any other language gets English.

Answers follow the question's language anyway (rag/generation/prompts.py); this is for the
controls around them. Messages made on the server (upload reports, errors) stay English.
"""

from __future__ import annotations

import gradio as gr

ENGLISH = {
    "intro": (
        "# RAG chat\nDrop PDF, HTML, Markdown or text files on the right, then ask. Answers cite the "
        "retrieved chunks as [1], [2]… — the numbers under **Sources**. Your documents and "
        "conversations stay in this browser's private workspace (or your account's, once signed in); "
        "the shared library is visible to everyone."
    ),
    "new_chat": "New chat",
    "conversations": "Conversations",
    "delete_chat": "Delete this chat",
    "workspace": "Workspace",
    "new_workspace": "New workspace",
    "delete_workspace": "Delete this workspace and everything in it",
    "confirm_delete": "Yes: delete all its documents and conversations",
    "chat": "Chat",
    "question": "Ask about your documents… (Enter sends)",
    "send": "Send",
    "stop": "Stop",
    "upload": "Drop files: PDF, HTML, Markdown, text (≤ {max_upload_mb} MB each)",
    "url": "…or a web page or sitemap: https://…",
    "add_url": "Add URL",
    "follow_links": "and the pages it links to under the same path",
    "stop_upload": "Stop upload",
    "upload_status": "Upload results",
    "sample": "Load sample documents (Milvus docs)",
    "sources": "**Sources**",
    "documents": "Documents",
    "doc_list": "Documents you can search",
    "only_selected": "Search only in the selected documents",
    "refresh": "Refresh selected web pages",
    "delete": "Delete selected",
}
JAPANESE = {
    "intro": (
        "# RAG チャット\n右側に PDF、HTML、Markdown、テキストのファイルをドロップしてから質問してください。"
        "回答は検索されたチャンクを [1]、[2]… として引用します（**出典** の番号）。文書と会話はこの"
        "ブラウザーの非公開ワークスペース（サインイン後はアカウントのもの）に保存され、共有ライブラリーは"
        "全員が見られます。"
    ),
    "new_chat": "新しいチャット",
    "conversations": "会話",
    "delete_chat": "このチャットを削除",
    "workspace": "ワークスペース",
    "new_workspace": "新しいワークスペース",
    "delete_workspace": "このワークスペースと中身をすべて削除",
    "confirm_delete": "はい：文書と会話をすべて削除します",
    "chat": "チャット",
    "question": "文書について質問…（Enter で送信）",
    "send": "送信",
    "stop": "停止",
    "upload": "ファイルをドロップ：PDF、HTML、Markdown、テキスト（各 {max_upload_mb} MB まで）",
    "url": "…またはウェブページかサイトマップ：https://…",
    "add_url": "URL を追加",
    "follow_links": "同じパスの下でリンクされたページも",
    "stop_upload": "アップロードを停止",
    "upload_status": "アップロード結果",
    "sample": "サンプル文書を読み込む（Milvus のドキュメント）",
    "sources": "**出典**",
    "documents": "文書",
    "doc_list": "検索できる文書",
    "only_selected": "選んだ文書だけを検索",
    "refresh": "選んだウェブページを更新",
    "delete": "選んだものを削除",
}


def ui_words(max_upload_mb: int) -> gr.I18n:
    """The translations, with this server's limits filled in (the same call builds the page and
    serves its config, so both see the same words)."""
    return gr.I18n(
        **{
            language: {key: text.format(max_upload_mb=max_upload_mb) for key, text in words.items()}
            for language, words in (("en", ENGLISH), ("ja", JAPANESE))
        }
    )
