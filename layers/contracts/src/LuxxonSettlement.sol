// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title LuxxonSettlement
/// @notice Consumers prepay USDC into a pool; the relayer settles each ended video session once, moving
/// `chargeableSeconds × ratePerSecond` from the consumer's deposit to what the operator is owed; operators
/// withdraw their earnings whenever they like, consumers withdraw after a delay.
///
/// @dev Design decisions (the backend's README and DESIGN.md "Money plane" refer to these):
///
/// - Units: 1 token base unit = 1 µUSDC (USDC has 6 decimals). Fee-on-transfer or rebasing tokens are not
///   supported: the token is USDC.
/// - Session ids: `sessionId` holds the session UUID's 16 bytes LEFT-aligned, the low 16 bytes zero
///   (`bytes32(bytes16(uuid))`, so `bytes16(sessionId)` gives the UUID back and the hex reads as the UUID
///   followed by zeros). Anything else is refused, so every id on chain decodes to a UUID. Signed session
///   terms (EIP-712, later) use the same encoding.
/// - Pull payments: settlement credits `owed[operator]`; the operator calls `withdrawEarnings()`. A settlement is
///   then two storage updates and an event (no token call), and a recipient the token refuses (USDC blacklist,
///   a contract that reverts) can never make a settlement, or a batch, fail.
/// - Once per session: a settled id is recorded forever. `settleFromPool` reverts on a second call
///   (`AlreadySettled`); `settleMany` SKIPS any item it cannot settle, emitting `SettlementSkipped(id, reason)`
///   with the selector of the error the single call would revert with (`AlreadySettled` for a duplicate, which a
///   relayer treats as success). A batch therefore never fails because of one item, whether a duplicate, a
///   concurrent relayer, or an invalid item; it reverts only for the caller (not a relayer) or when paused.
/// - No partial settlement: a charge above the consumer's deposit reverts (or is skipped in a batch) whole.
/// - Delayed withdrawals: `requestWithdrawal` stamps `unlocksAt = now + withdrawalDelay`; the requested amount
///   STAYS in `deposits()` and keeps settling sessions until `executeWithdrawal`, which pays
///   `min(requested, deposits)` at or after `unlocksAt`. The delay (default 24 h; bounded to [6 h, 7 days]) is
///   longer than the longest session (4 h) plus the wait for an operator (1 h) plus settlement latency, so a
///   consumer cannot pull funds a running session was accepted against. A new request replaces the previous one
///   and restarts the clock (no bumping an old, unlocked request). A delay change applies to later requests.
/// - Pause: stops `settleFromPool`, `settleMany`, `deposit` and `depositFor`. Never traps funds: withdrawal
///   requests, their execution after the delay, and operators' `withdrawEarnings` all work while paused.
/// - Roles: one owner (two-step transfer, no renounce: an ownerless contract could never be unpaused) manages
///   relayers, the pause switch, the withdrawal delay and the fee. Relayers: any number; rotation = grant the
///   new key, move the relayer to it, let the old key's in-flight transactions confirm, revoke the old key.
/// - Fee: `feeBps` of each charge (default 0, at most 10 %) is credited to `feeRecipient`'s earnings; the
///   operator is owed the rest. `Settled.amount` is what the consumer paid, `Settled.fee` the platform's part.
/// - Accounting invariant: token.balanceOf(this) == Σ deposits(a) + Σ owed(a) over all accounts (≥ if someone
///   transfers tokens in directly; those are not credited to anyone).
/// - EIP-712 domain ("LuxxonSettlement", "1", chain id, this contract), exposed per ERC-5267 (`eip712Domain()`)
///   and as `DOMAIN_SEPARATOR()`, so consumer-signed session terms can be verified here later.
contract LuxxonSettlement is EIP712 {
    using SafeERC20 for IERC20;

    /// @notice One item of a batch: the same terms `settleFromPool` takes.
    struct Settlement {
        bytes32 sessionId;
        address consumer;
        address operator;
        uint256 chargeableSeconds;
        uint256 ratePerSecond;
        uint256 maxDurationSeconds;
    }

    // Storage, packed so a settlement touches as few slots as possible: the config slot (paused, fee),
    // the relayer flag, the session's record (new), the consumer's account and the operator's account.
    struct Config {
        address owner;
        bool paused;
        uint16 feeBps;
        uint32 withdrawalDelay;
    }

    struct Account {
        uint120 deposit; // the consumer's pool, pending withdrawal included
        uint120 owed; // earnings not yet withdrawn
        // Set on the first credit and never cleared, so the slot stays non-zero after everything is withdrawn
        // and the next credit rewrites a used slot (5k gas) instead of filling a fresh one (22k).
        bool opened;
    }

    struct Withdrawal {
        uint120 amount;
        uint64 unlocksAt;
    }

    struct Record {
        uint128 amount;
        uint64 settledAt; // block timestamp; 0 = not settled
    }

    uint256 public constant MIN_WITHDRAWAL_DELAY = 6 hours;
    uint256 public constant MAX_WITHDRAWAL_DELAY = 7 days;
    uint256 public constant MAX_FEE_BPS = 1_000;

    /// @notice The settlement token (USDC).
    IERC20 public immutable token;

    Config private _config;
    /// @notice The account `transferOwnership` named, until it accepts.
    address public pendingOwner;
    /// @notice Who is credited the platform fee (when `feeBps` > 0).
    address public feeRecipient;
    /// @notice Whether an account may settle.
    mapping(address account => bool) public isRelayer;
    mapping(address account => Account) private _accounts;
    mapping(address consumer => Withdrawal) private _withdrawals;
    mapping(bytes32 sessionId => Record) private _settlements;

    /// @notice `amount` was deposited into `consumer`'s pool, whose balance is now `balance`.
    event Deposited(address indexed consumer, address indexed from, uint256 amount, uint256 balance);
    /// @notice A session was settled: `amount` = `chargeableSeconds × ratePerSecond` left the consumer's pool;
    /// the operator is owed `amount − fee`, the fee recipient `fee`.
    event Settled(
        bytes32 indexed sessionId,
        address indexed consumer,
        address indexed operator,
        uint256 chargeableSeconds,
        uint256 ratePerSecond,
        uint256 maxDurationSeconds,
        uint256 amount,
        uint256 fee
    );
    /// @notice `settleMany` left an item out; `reason` is the selector of the error `settleFromPool` would raise.
    event SettlementSkipped(bytes32 indexed sessionId, bytes4 reason);
    /// @notice `consumer` asked to withdraw `amount`, executable from `unlocksAt` (replaces any earlier request).
    event WithdrawalRequested(address indexed consumer, uint256 amount, uint256 unlocksAt);
    /// @notice `consumer` withdrew their pending request of `amount`.
    event WithdrawalCancelled(address indexed consumer, uint256 amount);
    /// @notice `amount` left `consumer`'s pool to their wallet; `balance` remains.
    event Withdrawn(address indexed consumer, uint256 amount, uint256 balance);
    /// @notice `operator` (or the fee recipient) withdrew `amount` of earnings.
    event EarningsWithdrawn(address indexed operator, uint256 amount);
    event RelayerGranted(address indexed relayer);
    event RelayerRevoked(address indexed relayer);
    event Paused(address indexed by);
    event Unpaused(address indexed by);
    event WithdrawalDelayChanged(uint256 previousDelay, uint256 newDelay);
    event FeeChanged(uint256 feeBps, address indexed recipient);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner(address caller);
    error NotPendingOwner(address caller);
    error NotRelayer(address caller);
    error EnforcedPause();
    error ExpectedPause();
    error ZeroAddress();
    error ZeroAmount();
    error InvalidSessionId(bytes32 sessionId);
    error AlreadySettled(bytes32 sessionId);
    error ChargeableSecondsAboveMax(bytes32 sessionId, uint256 chargeableSeconds, uint256 maxDurationSeconds);
    error InsufficientDeposit(bytes32 sessionId, address consumer, uint256 deposit);
    error AmountAboveDeposit(uint256 amount, uint256 deposit);
    error AmountTooLarge(uint256 amount);
    error NoPendingWithdrawal();
    error WithdrawalLocked(uint256 unlocksAt);
    error NothingOwed();
    error WithdrawalDelayOutOfRange(uint256 delay);
    error FeeTooHigh(uint256 feeBps);

    modifier onlyOwner() {
        if (msg.sender != _config.owner) revert NotOwner(msg.sender);
        _;
    }

    /// @param token_ The settlement token (USDC).
    /// @param owner_ The owner (a multisig in production; it never needs to be the deployer).
    /// @param relayer_ A first relayer, or the zero address for none.
    /// @param withdrawalDelay_ Seconds between a withdrawal request and its execution, in [6 h, 7 days].
    constructor(IERC20 token_, address owner_, address relayer_, uint256 withdrawalDelay_)
        EIP712("LuxxonSettlement", "1")
    {
        if (address(token_) == address(0) || owner_ == address(0)) revert ZeroAddress();
        _checkDelay(withdrawalDelay_);
        token = token_;
        _config = Config({owner: owner_, paused: false, feeBps: 0, withdrawalDelay: uint32(withdrawalDelay_)});
        emit OwnershipTransferred(address(0), owner_);
        emit WithdrawalDelayChanged(0, withdrawalDelay_);
        if (relayer_ != address(0)) {
            isRelayer[relayer_] = true;
            emit RelayerGranted(relayer_);
        }
    }

    // ---------------------------------------------------------------- consumers

    /// @notice Move `amount` µUSDC from the caller (who approved this contract) into the caller's pool.
    function deposit(uint256 amount) external {
        _deposit(msg.sender, amount);
    }

    /// @notice Move `amount` µUSDC from the caller into `consumer`'s pool (a treasury topping up an agent).
    function depositFor(address consumer, uint256 amount) external {
        if (consumer == address(0)) revert ZeroAddress();
        _deposit(consumer, amount);
    }

    /// @notice Ask to withdraw `amount` from the caller's pool, executable after `withdrawalDelay()`.
    /// Replaces any earlier request and restarts its clock. The amount stays in `deposits()` (and keeps settling
    /// sessions) until executed. Works while paused.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _accounts[msg.sender].deposit;
        if (amount > balance) revert AmountAboveDeposit(amount, balance);
        uint256 unlocksAt = block.timestamp + _config.withdrawalDelay;
        _withdrawals[msg.sender] = Withdrawal({amount: uint120(amount), unlocksAt: uint64(unlocksAt)});
        emit WithdrawalRequested(msg.sender, amount, unlocksAt);
    }

    /// @notice Drop the caller's pending withdrawal request.
    function cancelWithdrawal() external {
        uint256 amount = _withdrawals[msg.sender].amount;
        if (amount == 0) revert NoPendingWithdrawal();
        delete _withdrawals[msg.sender];
        emit WithdrawalCancelled(msg.sender, amount);
    }

    /// @notice Pay the caller's pending request, from its `unlocksAt` on: `min(requested, deposits)` (settlements
    /// since the request may have lowered the pool). Works while paused.
    function executeWithdrawal() external {
        Withdrawal memory request = _withdrawals[msg.sender];
        if (request.amount == 0) revert NoPendingWithdrawal();
        if (block.timestamp < request.unlocksAt) revert WithdrawalLocked(request.unlocksAt);
        delete _withdrawals[msg.sender];
        Account storage account = _accounts[msg.sender];
        uint120 balance = account.deposit;
        uint120 amount = request.amount < balance ? request.amount : balance;
        unchecked {
            balance -= amount;
        }
        account.deposit = balance;
        emit Withdrawn(msg.sender, amount, balance);
        if (amount != 0) token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- operators

    /// @notice Pay the caller everything they are owed (pull payment). Works while paused.
    function withdrawEarnings() external {
        Account storage account = _accounts[msg.sender];
        uint256 amount = account.owed;
        if (amount == 0) revert NothingOwed();
        account.owed = 0;
        emit EarningsWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- relayer

    /// @notice Settle one session: `chargeableSeconds × ratePerSecond` from `consumer`'s pool to `operator`'s
    /// earnings. Relayer only, not while paused, once per `sessionId`; reverts (never settles in part) when
    /// `chargeableSeconds > maxDurationSeconds` or the charge exceeds the consumer's deposit.
    function settleFromPool(
        bytes32 sessionId,
        address consumer,
        address operator,
        uint256 chargeableSeconds,
        uint256 ratePerSecond,
        uint256 maxDurationSeconds
    ) external {
        uint256 feeRate = _checkSettler();
        bytes4 failure =
            _settle(sessionId, consumer, operator, chargeableSeconds, ratePerSecond, maxDurationSeconds, feeRate);
        if (failure != bytes4(0)) {
            _revertSettlement(failure, sessionId, consumer, chargeableSeconds, maxDurationSeconds);
        }
    }

    /// @notice Settle many sessions in one transaction. Items that cannot be settled (already settled, invalid
    /// terms, charge above the deposit) are SKIPPED with a `SettlementSkipped` event, never reverting the batch.
    /// Relayer only, not while paused.
    /// @return settledCount How many items were settled.
    function settleMany(Settlement[] calldata items) external returns (uint256 settledCount) {
        uint256 feeRate = _checkSettler();
        uint256 n = items.length;
        for (uint256 i; i < n;) {
            Settlement calldata item = items[i];
            bytes4 failure = _settle(
                item.sessionId,
                item.consumer,
                item.operator,
                item.chargeableSeconds,
                item.ratePerSecond,
                item.maxDurationSeconds,
                feeRate
            );
            if (failure == bytes4(0)) {
                unchecked {
                    ++settledCount;
                }
            } else {
                emit SettlementSkipped(item.sessionId, failure);
            }
            unchecked {
                ++i;
            }
        }
    }

    // ---------------------------------------------------------------- owner

    function grantRelayer(address relayer) external onlyOwner {
        if (relayer == address(0)) revert ZeroAddress();
        isRelayer[relayer] = true;
        emit RelayerGranted(relayer);
    }

    function revokeRelayer(address relayer) external onlyOwner {
        isRelayer[relayer] = false;
        emit RelayerRevoked(relayer);
    }

    /// @notice Stop settlements and deposits (withdrawals and earnings withdrawals keep working).
    function pause() external onlyOwner {
        if (_config.paused) revert EnforcedPause();
        _config.paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        if (!_config.paused) revert ExpectedPause();
        _config.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Set the delay for withdrawal requests made from now on (pending requests keep their `unlocksAt`).
    function setWithdrawalDelay(uint256 delay) external onlyOwner {
        _checkDelay(delay);
        uint256 previous = _config.withdrawalDelay;
        _config.withdrawalDelay = uint32(delay);
        emit WithdrawalDelayChanged(previous, delay);
    }

    /// @notice Set the platform fee (basis points of each charge, at most `MAX_FEE_BPS`) and who earns it.
    function setFee(uint256 newFeeBps, address recipient) external onlyOwner {
        if (newFeeBps > MAX_FEE_BPS) revert FeeTooHigh(newFeeBps);
        if (newFeeBps != 0 && recipient == address(0)) revert ZeroAddress();
        _config.feeBps = uint16(newFeeBps);
        feeRecipient = recipient;
        emit FeeChanged(newFeeBps, recipient);
    }

    /// @notice Start handing the contract to `newOwner`, who must call `acceptOwnership()`.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        address previous = _config.owner;
        _config.owner = msg.sender;
        delete pendingOwner;
        emit OwnershipTransferred(previous, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice The consumer's pool, INCLUDING any pending withdrawal (which still settles sessions until
    /// executed). What the consumer can still commit to new sessions is `deposits − pendingWithdrawal.amount`
    /// minus the backend's holds.
    function deposits(address consumer) external view returns (uint256) {
        return _accounts[consumer].deposit;
    }

    /// @notice What `operator` (or the fee recipient) has earned and not yet withdrawn.
    function owed(address operator) external view returns (uint256) {
        return _accounts[operator].owed;
    }

    /// @notice The consumer's pending withdrawal request (0, 0 when none).
    function pendingWithdrawal(address consumer) external view returns (uint256 amount, uint256 unlocksAt) {
        Withdrawal memory request = _withdrawals[consumer];
        return (request.amount, request.unlocksAt);
    }

    /// @notice Whether `sessionId` was settled (a relayer asks before sending).
    function settled(bytes32 sessionId) external view returns (bool) {
        return _settlements[sessionId].settledAt != 0;
    }

    /// @notice The amount charged for `sessionId` and the block timestamp it was settled at (0, 0 when not).
    function settlementOf(bytes32 sessionId) external view returns (uint256 amount, uint256 settledAt) {
        Record memory record = _settlements[sessionId];
        return (record.amount, record.settledAt);
    }

    function owner() external view returns (address) {
        return _config.owner;
    }

    function paused() external view returns (bool) {
        return _config.paused;
    }

    function withdrawalDelay() external view returns (uint256) {
        return _config.withdrawalDelay;
    }

    function feeBps() external view returns (uint256) {
        return _config.feeBps;
    }

    /// @notice The EIP-712 domain separator (name "LuxxonSettlement", version "1", chain id, this contract).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    function _deposit(address consumer, uint256 amount) private {
        if (_config.paused) revert EnforcedPause();
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint120).max) revert AmountTooLarge(amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
        Account storage account = _accounts[consumer];
        uint120 balance = account.deposit + uint120(amount);
        account.deposit = balance;
        account.opened = true;
        emit Deposited(consumer, msg.sender, amount, balance);
    }

    /// @dev The caller may settle now; returns the fee (basis points) read from the same storage slot.
    function _checkSettler() private view returns (uint256) {
        if (!isRelayer[msg.sender]) revert NotRelayer(msg.sender);
        Config memory config = _config;
        if (config.paused) revert EnforcedPause();
        return config.feeBps;
    }

    /// @dev Settles one session, or returns the selector of the reason it cannot (and changes nothing).
    function _settle(
        bytes32 sessionId,
        address consumer,
        address operator,
        uint256 chargeableSeconds,
        uint256 ratePerSecond,
        uint256 maxDurationSeconds,
        uint256 feeRate
    ) private returns (bytes4) {
        if (sessionId == bytes32(0) || uint128(uint256(sessionId)) != 0) return InvalidSessionId.selector;
        Record storage record = _settlements[sessionId];
        if (record.settledAt != 0) return AlreadySettled.selector;
        if (consumer == address(0) || operator == address(0)) return ZeroAddress.selector;
        if (chargeableSeconds > maxDurationSeconds) return ChargeableSecondsAboveMax.selector;
        Account storage payer = _accounts[consumer];
        uint256 balance = payer.deposit;
        // rate > ⌊balance / seconds⌋  ⟺  seconds × rate > balance, without overflow.
        if (chargeableSeconds != 0 && ratePerSecond > balance / chargeableSeconds) {
            return InsufficientDeposit.selector;
        }
        uint256 amount;
        uint256 fee;
        unchecked {
            amount = chargeableSeconds * ratePerSecond; // ≤ balance < 2^120
            payer.deposit = uint120(balance - amount); // balance fits uint120, amount ≤ balance
            if (feeRate != 0) {
                fee = amount * feeRate / 10_000;
                _credit(feeRecipient, fee);
            }
        }
        _credit(operator, amount - fee);
        record.amount = uint128(amount);
        record.settledAt = uint64(block.timestamp);
        emit Settled(
            sessionId, consumer, operator, chargeableSeconds, ratePerSecond, maxDurationSeconds, amount, fee
        );
        return bytes4(0);
    }

    /// @dev `amount` ≤ a deposit, so it fits uint120; the checked add can only overflow past 1.3e30 USDC.
    function _credit(address account, uint256 amount) private {
        Account storage credited = _accounts[account];
        credited.owed += uint120(amount);
        credited.opened = true;
    }

    function _revertSettlement(
        bytes4 failure,
        bytes32 sessionId,
        address consumer,
        uint256 chargeableSeconds,
        uint256 maxDurationSeconds
    ) private view {
        if (failure == InvalidSessionId.selector) revert InvalidSessionId(sessionId);
        if (failure == AlreadySettled.selector) revert AlreadySettled(sessionId);
        if (failure == ZeroAddress.selector) revert ZeroAddress();
        if (failure == ChargeableSecondsAboveMax.selector) {
            revert ChargeableSecondsAboveMax(sessionId, chargeableSeconds, maxDurationSeconds);
        }
        revert InsufficientDeposit(sessionId, consumer, _accounts[consumer].deposit);
    }

    function _checkDelay(uint256 delay) private pure {
        if (delay < MIN_WITHDRAWAL_DELAY || delay > MAX_WITHDRAWAL_DELAY) revert WithdrawalDelayOutOfRange(delay);
    }
}
