"""The teaching app (a Mesa model served by Solara): city tiles, one RT's network, live charts, a Guide."""
