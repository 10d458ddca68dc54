// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {LuxxonSettlement} from "./LuxxonSettlement.sol";

/// @title CreditReader
/// @notice Never deployed. Its creation code is sent with `eth_call` (no `to`): the constructor reads a consumer's
/// pool and returns `abi.encode(block.number, deposits, pendingWithdrawal.amount)` instead of runtime code. One
/// execution reads all three, so they belong to one block, in one JSON-RPC round trip; the API then counts as held
/// every charge its indexer saw settled after that block.
contract CreditReader {
    constructor(LuxxonSettlement settlement, address consumer) {
        uint256 deposits = settlement.deposits(consumer);
        (uint256 pending,) = settlement.pendingWithdrawal(consumer);
        bytes memory out = abi.encode(block.number, deposits, pending);
        assembly ("memory-safe") {
            return(add(out, 32), mload(out))
        }
    }
}
