// Data augmentation layers a Keras model often keeps inside it (the image classification and
// transfer learning tutorials put RandomFlip and RandomRotation in front of the model): random
// at training, and, as Keras defines them, the identity at inference, whatever their settings
// (each of which only shapes the training-time randomness). So they run as nothing here, in the
// private model and the plaintext one alike. A layer that is not the identity at inference
// (RandomCrop resizes there) is not in this list.
export const INFERENCE_IDENTITY: readonly string[] = ['RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness'];
