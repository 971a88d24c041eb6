"""The image viewer: window, documents, linked views, filmstrip, controls, info panel, export."""
