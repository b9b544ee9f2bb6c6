"""Publishing a trained generator: the repository folder with its model card, to a folder or the Hub."""
