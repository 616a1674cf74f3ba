"""The model: vocabularies, pretrained vectors, the network, its CRF and decoding, the model directory."""
