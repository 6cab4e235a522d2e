import t from 'tap'
import { InProcessCoordination } from '../../src/coordination/in-process.js'
import { coordinationContract } from '../support/coordination-contract.js'

coordinationContract(t, 'InProcessCoordination', () => new InProcessCoordination())
