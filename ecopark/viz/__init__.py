"""Views of a park: the one-page static report (matplotlib) and the browser app (Solara)."""
