/** Server actions of this group register themselves here (see registry.ts). */
export {};
