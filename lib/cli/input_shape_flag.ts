// `--input-shape`: the sizes of the inputs a model was saved with open (Input(shape=(None,))),
// for every command that reads a model's weights (deploy, verify, calibrate). The model is read,
// planned and deployed at that shape (lib/api/input_shapes.ts).
import type { Command } from 'commander';

import { checkInputShapesOption, type InputShapes } from '../api/input_shapes';

export function addInputShapeOption(cmd: Command): Command {
  return cmd.option(
    '--input-shape <shape...>',
    "sizes for the input's open axes (a model saved with Input(shape=(None,))), after the batch axis: 128 for token ids, 224x224x3 for an image; for a text a bag-of-words TextVectorization reads, its tokens per text (default 128); a model of several inputs takes name=shape for each",
  );
}

/** The flag's shapes: one shape, or shapes by input name (name=shape each); undefined when absent. */
export function inputShapesOf(flags: { inputShape?: string[] }): InputShapes | undefined {
  const given = flags.inputShape;
  if (given === undefined) return undefined;
  const dims = (s: string): number[] => {
    if (!/^\d+(x\d+)*$/.test(s)) throw new Error(`--input-shape ${JSON.stringify(s)}: a shape is sizes joined by x (128, or 224x224x3), or name=shape`);
    return s.split('x').map(Number);
  };
  const named = given.filter((g) => g.includes('='));
  let shapes: InputShapes;
  if (named.length === 0) {
    if (given.length > 1) throw new Error(`--input-shape was given ${given.length} shapes without names: a model of several inputs takes name=shape for each`);
    shapes = dims(given[0]);
  } else {
    if (named.length !== given.length) throw new Error('--input-shape: name every shape (name=shape) or give one shape alone');
    const byName: Record<string, number[]> = {};
    for (const g of given) {
      const [name, shape] = [g.slice(0, g.indexOf('=')), g.slice(g.indexOf('=') + 1)];
      if (!name) throw new Error(`--input-shape ${JSON.stringify(g)}: the input's name is missing before '='`);
      if (name in byName) throw new Error(`--input-shape names '${name}' twice`);
      byName[name] = dims(shape);
    }
    shapes = byName;
  }
  checkInputShapesOption(shapes, '--input-shape');
  return shapes;
}
