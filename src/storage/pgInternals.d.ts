// pg's parameter conversion, used by its own queries; pgPipeline.ts uses it for the same behaviour.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): unknown };
  export default utils;
}
