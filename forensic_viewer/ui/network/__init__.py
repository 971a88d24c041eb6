"""The network's verdict: badge, heatmap, background verdict jobs, model menu and catalog."""
