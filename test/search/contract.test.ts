import { STRATEGY_NAMES, strategyByName } from '../../src/search/index.js';
import { strategyContract } from './strategy-contract.js';

for (const name of STRATEGY_NAMES) strategyContract(name, () => strategyByName(name));
