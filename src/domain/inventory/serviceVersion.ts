/**
 * The compute service version this build reports. Rolling-upgrade checks compare
 * it with Nova's numbers (behaviour.md: 62 for vDPA attach/detach, 63 for
 * suspend, resume and live migration), so it follows Nova 26's numbering.
 */
export const CURRENT_SERVICE_VERSION = 66;
