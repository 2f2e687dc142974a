"""JSON Schemas (Draft 2020-12) shipped as package data: trainer configs, cluster profiles and manifests."""
