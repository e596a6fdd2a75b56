"""Data layer: AVA annotations (`ava`), person tracks (`tracks`), the packed track store (`store`),
dataset manifests (`manifest`) and the synthetic demo dataset (`synthetic`)."""
