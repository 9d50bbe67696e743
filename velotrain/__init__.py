"""velotrain: a training service that compares the VeLO learned optimizer with Adam."""
