// Data augmentation layers a Keras model often keeps inside it (the image classification and
// transfer learning tutorials put RandomFlip and RandomRotation in front of the model): random
// at training, and, as Keras defines them, the identity at inference, whatever their settings
// (each of which only shapes the training-time randomness). So they run as nothing here, in the
// private model and the plaintext one alike. A layer that is not the identity at inference
// is not in this list: RandomCrop (tf-keras and Keras 3.0-3.7 centre-crop and resize there, 3.8+
// return the input: which one depends on the Keras that runs it), AutoContrast and CLAHE (always
// applied), Equalization (its docstring says applied at inference, its code since 3.8 does not),
// RandomHeight and RandomWidth (TensorFlow.js resizes at random at inference too).
// Checked against tf-keras 2.21 and Keras 3.3 to 3.16 (each layer's `if training:` branch).
export const INFERENCE_IDENTITY: readonly string[] = [
  // tf-keras and Keras 3
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness',
  // Keras 3 only
  'RandomGrayscale', 'RandomHue', 'RandomSaturation', 'RandomColorJitter', 'RandomColorDegeneration', 'RandomPosterization', 'RandomInvert',
  'RandomSharpness', 'RandomGaussianBlur', 'RandomShear', 'RandomPerspective', 'RandomElasticTransform', 'RandomErasing', 'Solarization',
  'MixUp', 'CutMix', 'AugMix', 'RandAugment',
];

/**
 * Keras's CenterCrop on [batch, height, width, channels]: the centred window of the target size,
 * starting at half the excess (rounded down) on each axis; `null` where the input is smaller
 * than the target on an axis (Keras then resizes: image_resize.ts, smartResizePlan).
 */
export function centerCropWindow(shape: readonly number[], height: number, width: number): { begin: number[]; size: number[] } | null {
  const [b, h, w, c] = shape;
  if (h < height || w < width) return null;
  return { begin: [0, Math.floor((h - height) / 2), Math.floor((w - width) / 2), 0], size: [b, height, width, c] };
}
