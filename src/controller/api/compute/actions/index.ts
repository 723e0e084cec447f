// Every server action module registers its handlers on import.
import './coldMove.js';
import './shelveActions.js';
import './powerActions.js';
import './interfaceActions.js';
import './liveMigration.js';
import './evacuate.js';
import './rebootActions.js';
import './lockActions.js';
import './rebuildActions.js';
import './consoleOutput.js';
