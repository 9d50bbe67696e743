// Estimate the memory a full-batch step needs, from the catalog's dataset sizes.

const BYTES_PER_FLOAT32 = 4;
// An estimate: forward values stay in memory for the backward pass, and their
// gradients take as much again. Weights and optimizer state are left out (small here).
const ACTIVATION_COPIES = 2;

// Units one sample activates in `model`: hidden layers plus the output layer.
export function activationUnits(model, hiddenSizes, outputSize) {
  if (model === "linear") return outputSize;
  if (model === "mlp") return hiddenSizes.reduce((a, b) => a + b, 0) + outputSize;
  // conv: 3x3 convolutions with 16 and 32 channels on the 8x8 image, then 2x2
  // max-pooling, as velo_core's conv preset builds it.
  return 8 * 8 * 16 + 8 * 8 * 32 + 4 * 4 * 32 + outputSize;
}

export function fullBatchMemory(dataset, model, hiddenSizes) {
  const samples = dataset.train_size;
  const units = activationUnits(model, hiddenSizes, dataset.output_size);
  const data = samples * dataset.num_features * BYTES_PER_FLOAT32;
  const activations = samples * units * BYTES_PER_FLOAT32 * ACTIVATION_COPIES;
  const formula =
    `data ${samples} samples × ${dataset.num_features} features × 4 B` +
    ` + activations ${samples} × ${units} units × 4 B × ${ACTIVATION_COPIES}` +
    " (forward values and their gradients)";
  return { data, activations, total: data + activations, formula };
}
