"""Neural-network side: model, preprocessing, model files, prediction, training (never Qt)."""
