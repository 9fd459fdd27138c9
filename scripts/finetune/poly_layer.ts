// The TfePolynomial layer in TensorFlow.js, for fine-tuning a Pond variant in plaintext:
// y = sum_i coeffs[i] x^i elementwise, the same layer lib/api/layers_spec.ts evaluates privately.
// Its coefficients are a weight of the layer (trainable or not, see TfePolynomial.trainCoeffs);
// getConfig() reports their current values, which is what a saved model.json carries.
// tfjs is typed by hand in scripts/train/tf.ts (its own .d.ts files need the DOM lib); the few
// extra calls used here are typed below.
import { POLYNOMIAL_LAYER } from '../../lib/api/layers_spec';
import { type Sequential, type Tensor, tf } from '../train/tf';

export interface LayerVariable {
  readonly originalName: string;
  readonly shape: number[];
  trainable: boolean;
  read(): Tensor;
  write(t: Tensor): unknown;
}

/** The part of tf.layers.Layer that a subclass uses. */
interface LayerBase {
  readonly name: string;
  readonly weights: LayerVariable[];
  addWeight(name: string, shape: number[], dtype?: string, initializer?: unknown, regularizer?: unknown, trainable?: boolean): LayerVariable;
  build(inputShape: (number | null)[]): void;
  call(inputs: Tensor | Tensor[], kwargs: Record<string, unknown>): Tensor | Tensor[];
  computeOutputShape(inputShape: (number | null)[]): (number | null)[];
  getConfig(): Record<string, unknown>;
  getClassName(): string;
  setWeights(w: Tensor[]): void;
}

export interface LayersModel extends Sequential {
  readonly layers: LayerBase[];
}

/** The tfjs calls this directory makes beyond scripts/train/tf.ts's typings. */
export interface TFX {
  tidy<T>(fn: () => T): T;
  tensor(values: ArrayLike<number>, shape: number[], dtype?: string): Tensor;
  add(a: Tensor, b: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  slice(x: Tensor, begin: number[], size: number[]): Tensor;
  abs(x: Tensor): Tensor;
  max(x: Tensor): Tensor;
  initializers: { zeros(): unknown };
  layers: { Layer: new (args: Record<string, unknown>) => LayerBase };
  serialization: { registerClass(cls: unknown): void };
  models: { modelFromJSON(config: { modelTopology: object }): Promise<LayersModel> };
}

export const tfx = tf as unknown as TFX;

export class TfePolynomial extends tfx.layers.Layer {
  static className = POLYNOMIAL_LAYER;
  /** Whether layers built from now on train their coefficients. */
  static trainCoeffs = true;
  /** When set, each layer records here the largest |input| it sees (by layer name). */
  static probe: Map<string, number> | null = null;

  private readonly initial: number[];
  private coeffs: LayerVariable | null = null;

  constructor(config: Record<string, unknown>) {
    const { coeffs, ...rest } = config;
    super({ name: rest.name, trainable: rest.trainable ?? true, dtype: rest.dtype });
    if (!Array.isArray(coeffs) || coeffs.length < 2 || coeffs.length > 4) throw new Error(`${POLYNOMIAL_LAYER}: coeffs needs 2 to 4 numbers`);
    this.initial = coeffs.map(Number);
  }

  override build(inputShape: (number | null)[]): void {
    this.coeffs = this.addWeight('coeffs', [this.initial.length], 'float32', tfx.initializers.zeros(), undefined, TfePolynomial.trainCoeffs);
    this.coeffs.write(tfx.tensor(this.initial, [this.initial.length], 'float32'));
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const c = this.coeffs!.read();
    const k = this.initial.length;
    if (TfePolynomial.probe) {
      const m = tfx.tidy(() => tfx.max(tfx.abs(x)));
      TfePolynomial.probe.set(this.name, Math.max(TfePolynomial.probe.get(this.name) ?? 0, m.dataSync()[0]));
      m.dispose();
    }
    // Horner: ((c_k x + c_{k-1}) x + ...) x + c_0, each c_i a [1] slice broadcast over x.
    let y = tfx.slice(c, [k - 1], [1]);
    for (let i = k - 2; i >= 0; i--) y = tfx.add(tfx.mul(y, x), tfx.slice(c, [i], [1]));
    return y;
  }

  /** The coefficients now (the initial ones before build). */
  currentCoeffs(): number[] {
    return this.coeffs ? Array.from(this.coeffs.read().dataSync()) : [...this.initial];
  }

  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), coeffs: this.currentCoeffs() };
  }
}

tfx.serialization.registerClass(TfePolynomial);
