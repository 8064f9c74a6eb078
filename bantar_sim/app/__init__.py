"""The teaching app (Mesa SolaraViz): city tiles, one RT's network, live charts."""
