"""The editors' web app: dashboard, draft editor, previews, approval (``/editor/``, ``/accounts/``)."""
