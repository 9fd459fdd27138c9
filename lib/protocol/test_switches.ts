// Switches that turn a protocol's hiding steps off (FSS_STEPS' masks, PRIVATE_COMPARE_STEPS'
// permutation). They exist only so the view tests can run whole protocols with a step off as the
// control that must fail; in a real run each must keep its safe value. So they are accessors that
// refuse any other value unless the process runs the tests (TFE_TEST_CONTROLS=1, which the ava
// config sets): a bug or a plugin that switched a mask off would throw instead of opening values.
// Setting the safe value back is always allowed (the tests' restores).

/** Whether this process may switch hiding steps off (the test runner's environment). */
export function testControlsAllowed(): boolean {
  return typeof process !== 'undefined' && process.env?.TFE_TEST_CONTROLS === '1';
}

/**
 * Defines `safe`'s keys on `target` as guarded switches (enumerable, so spreading and
 * Object.assign work as on plain fields); `name` is for the error. Returns `target`.
 */
export function defineGuardedSwitches<T extends object, S extends Record<string, boolean | number>>(target: T, name: string, safe: S): T & Widened<S> {
  for (const [key, safeValue] of Object.entries(safe)) {
    let value = safeValue;
    Object.defineProperty(target, key, {
      enumerable: true,
      get: () => value,
      set: (v: boolean | number) => {
        if (v !== safeValue && !testControlsAllowed()) throw new Error(`${name}.${key} is a test control: setting it to ${String(v)} would weaken the protocol's hiding (allowed only under TFE_TEST_CONTROLS=1)`);
        value = v;
      },
    });
  }
  return Object.seal(target) as T & Widened<S>;
}

/** `{ maskInput: true }` as `{ maskInput: boolean }`: a switch's type is its kind, not its safe value. */
type Widened<S> = { [K in keyof S]: S[K] extends boolean ? boolean : number };
