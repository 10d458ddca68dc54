// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestUSDC
/// @notice A USDC-like ERC-20 for the local system and tests: 6 decimals, minted by its deployer only.
/// @dev 1 base unit = 1 µUSDC in the API. Never deployed to a production chain (production uses Circle's USDC).
contract TestUSDC is ERC20 {
    /// @notice The only account allowed to mint: whoever deployed the token.
    address public immutable minter;

    /// @notice The caller is not the minter.
    error NotMinter(address caller);

    constructor() ERC20("Test USD Coin", "USDC") {
        minter = msg.sender;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint `amount` base units (µUSDC) to `to`. Deployer only.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
