"""tagger: train, evaluate and run a Bi-LSTM named-entity tagger from the shell."""
