"""Contains all the data models used in inputs/outputs"""

from .account_list import AccountList
from .account_response import AccountResponse
from .account_response_metadata import AccountResponseMetadata
from .amount import Amount
from .attempt_list import AttemptList
from .attempt_response import AttemptResponse
from .balance_comparison import BalanceComparison
from .balance_monitor_event import BalanceMonitorEvent
from .balance_monitor_event_balance import BalanceMonitorEventBalance
from .balance_monitor_event_operator import BalanceMonitorEventOperator
from .balance_response import BalanceResponse
from .balance_response_by_type_0 import BalanceResponseByType0
from .balance_response_normal_side import BalanceResponseNormalSide
from .balance_sheet_category import BalanceSheetCategory
from .balance_sheet_line import BalanceSheetLine
from .balance_sheet_owner import BalanceSheetOwner
from .balance_sheet_report import BalanceSheetReport
from .balance_sheet_total import BalanceSheetTotal
from .balance_transaction_list_request import BalanceTransactionListRequest
from .balance_transaction_request import BalanceTransactionRequest
from .batch_entry_request import BatchEntryRequest
from .batch_entry_request_metadata import BatchEntryRequestMetadata
from .batch_item_response import BatchItemResponse
from .batch_item_response_problem_type_0 import BatchItemResponseProblemType0
from .batch_item_response_status import BatchItemResponseStatus
from .cancel_event_response import CancelEventResponse
from .category_balance_response import CategoryBalanceResponse
from .category_balance_response_by_type_0 import CategoryBalanceResponseByType0
from .category_list import CategoryList
from .category_response import CategoryResponse
from .category_response_metadata import CategoryResponseMetadata
from .category_response_normal_side import CategoryResponseNormalSide
from .check_in_request import CheckInRequest
from .checkout_item_request import CheckoutItemRequest
from .checkout_request import CheckoutRequest
from .checkout_response import CheckoutResponse
from .checkpoint_list import CheckpointList
from .checkpoint_response import CheckpointResponse
from .checkpoint_response_scope import CheckpointResponseScope
from .checkpoint_sealed import CheckpointSealed
from .checkpoint_sealed_scope import CheckpointSealedScope
from .condition_request import ConditionRequest
from .condition_request_balance import ConditionRequestBalance
from .conversion_list import ConversionList
from .conversion_response import ConversionResponse
from .convert_request import ConvertRequest
from .convert_request_metadata import ConvertRequestMetadata
from .covered_entry import CoveredEntry
from .create_category_request import CreateCategoryRequest
from .create_category_request_currency import CreateCategoryRequestCurrency
from .create_category_request_metadata import CreateCategoryRequestMetadata
from .create_category_request_normal_side import CreateCategoryRequestNormalSide
from .create_endpoint_request import CreateEndpointRequest
from .create_event_request import CreateEventRequest
from .create_event_request_currency import CreateEventRequestCurrency
from .create_hold_request import CreateHoldRequest
from .create_hold_request_metadata import CreateHoldRequestMetadata
from .create_monitor_request import CreateMonitorRequest
from .create_monitor_request_balance import CreateMonitorRequestBalance
from .create_monitor_request_operator import CreateMonitorRequestOperator
from .create_organization_request import CreateOrganizationRequest
from .create_settlement_request import CreateSettlementRequest
from .create_settlement_request_metadata import CreateSettlementRequestMetadata
from .delivery_list import DeliveryList
from .delivery_response import DeliveryResponse
from .delivery_response_channel import DeliveryResponseChannel
from .delivery_response_status import DeliveryResponseStatus
from .disable_endpoint_request import DisableEndpointRequest
from .dry_run_response import DryRunResponse
from .dry_run_response_result import DryRunResponseResult
from .endpoint_created_response import EndpointCreatedResponse
from .endpoint_disabled import EndpointDisabled
from .endpoint_disabled_webhook import EndpointDisabledWebhook
from .endpoint_list import EndpointList
from .endpoint_response import EndpointResponse
from .entry_batch_request import EntryBatchRequest
from .entry_batch_response import EntryBatchResponse
from .entry_line_response import EntryLineResponse
from .entry_line_response_side import EntryLineResponseSide
from .entry_list import EntryList
from .entry_response import EntryResponse
from .entry_response_kind import EntryResponseKind
from .entry_response_metadata import EntryResponseMetadata
from .escrow_list import EscrowList
from .escrow_position_report import EscrowPositionReport
from .escrow_position_row import EscrowPositionRow
from .escrow_released import EscrowReleased
from .escrow_released_webhook import EscrowReleasedWebhook
from .escrow_response import EscrowResponse
from .escrow_state_changed import EscrowStateChanged
from .escrow_state_changed_webhook import EscrowStateChangedWebhook
from .escrow_transition_list import EscrowTransitionList
from .escrow_transition_response import EscrowTransitionResponse
from .event_response import EventResponse
from .expanded_source import ExpandedSource
from .fx_rate_response import FxRateResponse
from .health_response import HealthResponse
from .hold_event import HoldEvent
from .hold_event_metadata import HoldEventMetadata
from .hold_event_status import HoldEventStatus
from .hold_response import HoldResponse
from .hold_response_status import HoldResponseStatus
from .inbox_health_row import InboxHealthRow
from .income_statement_line import IncomeStatementLine
from .income_statement_owner import IncomeStatementOwner
from .income_statement_report import IncomeStatementReport
from .income_statement_total import IncomeStatementTotal
from .intent_cancel_requested import IntentCancelRequested
from .intent_cancel_requested_intent_metadata import IntentCancelRequestedIntentMetadata
from .ledger_balance_monitor_recovered_webhook import LedgerBalanceMonitorRecoveredWebhook
from .ledger_balance_monitor_triggered_webhook import LedgerBalanceMonitorTriggeredWebhook
from .ledger_checkpoint_sealed_webhook import LedgerCheckpointSealedWebhook
from .ledger_get_balance_by import LedgerGetBalanceBy
from .ledger_get_category_by import LedgerGetCategoryBy
from .ledger_hold_created_webhook import LedgerHoldCreatedWebhook
from .ledger_hold_expired_webhook import LedgerHoldExpiredWebhook
from .ledger_hold_posted_webhook import LedgerHoldPostedWebhook
from .ledger_hold_voided_webhook import LedgerHoldVoidedWebhook
from .ledger_list_categories_currency_type_0 import LedgerListCategoriesCurrencyType0
from .line_request import LineRequest
from .line_request_side import LineRequestSide
from .members_request import MembersRequest
from .mismatch_response import MismatchResponse
from .money import Money
from .money_currency import MoneyCurrency
from .monitor_list import MonitorList
from .monitor_response import MonitorResponse
from .monitor_response_balance import MonitorResponseBalance
from .monitor_response_operator import MonitorResponseOperator
from .open_account_request import OpenAccountRequest
from .open_account_request_currency import OpenAccountRequestCurrency
from .open_account_request_metadata import OpenAccountRequestMetadata
from .open_account_request_type import OpenAccountRequestType
from .order_cancelled_webhook import OrderCancelledWebhook
from .order_disputed_webhook import OrderDisputedWebhook
from .order_event import OrderEvent
from .order_paid_webhook import OrderPaidWebhook
from .order_refunded_webhook import OrderRefundedWebhook
from .order_response import OrderResponse
from .organization_list import OrganizationList
from .organization_response import OrganizationResponse
from .organizer_statement_report import OrganizerStatementReport
from .outbox_health_report import OutboxHealthReport
from .outbox_health_row import OutboxHealthRow
from .post_entry_request import PostEntryRequest
from .post_entry_request_metadata import PostEntryRequestMetadata
from .post_hold_request import PostHoldRequest
from .problem import Problem
from .ready_response import ReadyResponse
from .reconciliation_row import ReconciliationRow
from .reconciliation_row_status import ReconciliationRowStatus
from .refund_request import RefundRequest
from .refund_requested import RefundRequested
from .refund_response import RefundResponse
from .release_due_response import ReleaseDueResponse
from .release_step import ReleaseStep
from .requeue_response import RequeueResponse
from .reverse_entry_request import ReverseEntryRequest
from .reverse_entry_request_metadata import ReverseEntryRequestMetadata
from .rotate_secret_request import RotateSecretRequest
from .secret_response import SecretResponse
from .set_fx_rate_request import SetFxRateRequest
from .settlement_entries import SettlementEntries
from .settlement_list import SettlementList
from .settlement_response import SettlementResponse
from .settlement_response_metadata import SettlementResponseMetadata
from .statement_balance import StatementBalance
from .statement_event import StatementEvent
from .statement_line_response import StatementLineResponse
from .statement_line_response_side import StatementLineResponseSide
from .statement_movement import StatementMovement
from .statement_movement_category import StatementMovementCategory
from .statement_response import StatementResponse
from .statement_sales import StatementSales
from .statement_ticket_type import StatementTicketType
from .statement_tie_out import StatementTieOut
from .statement_tie_out_kind import StatementTieOutKind
from .statement_transfer import StatementTransfer
from .stripe_payment_intent_cancel_requested_webhook import StripePaymentIntentCancelRequestedWebhook
from .stripe_reconciliation_report import StripeReconciliationReport
from .stripe_refund_requested_webhook import StripeRefundRequestedWebhook
from .stripe_transfer_requested_webhook import StripeTransferRequestedWebhook
from .stripe_transfer_reversal_requested_webhook import StripeTransferReversalRequestedWebhook
from .stripe_webhook_body import StripeWebhookBody
from .stripe_webhook_response import StripeWebhookResponse
from .ticket_cancelled_webhook import TicketCancelledWebhook
from .ticket_checked_in_webhook import TicketCheckedInWebhook
from .ticket_event import TicketEvent
from .ticket_invalidated_webhook import TicketInvalidatedWebhook
from .ticket_issued_webhook import TicketIssuedWebhook
from .ticket_refunded_webhook import TicketRefundedWebhook
from .ticket_response import TicketResponse
from .ticket_tie_out_report import TicketTieOutReport
from .ticket_tie_out_row import TicketTieOutRow
from .ticket_transferred_webhook import TicketTransferredWebhook
from .ticket_type_request import TicketTypeRequest
from .ticket_type_response import TicketTypeResponse
from .transfer_coverage import TransferCoverage
from .transfer_requested import TransferRequested
from .transfer_reversal_requested import TransferReversalRequested
from .transfer_ticket_request import TransferTicketRequest
from .trial_balance_organization_total import TrialBalanceOrganizationTotal
from .trial_balance_report_response import TrialBalanceReportResponse
from .trial_balance_response import TrialBalanceResponse
from .trial_balance_row_response import TrialBalanceRowResponse
from .trial_balance_total import TrialBalanceTotal
from .verification_response import VerificationResponse
from .webhooks_list_deliveries_status_type_0 import WebhooksListDeliveriesStatusType0

__all__ = (
    "AccountList",
    "AccountResponse",
    "AccountResponseMetadata",
    "Amount",
    "AttemptList",
    "AttemptResponse",
    "BalanceComparison",
    "BalanceMonitorEvent",
    "BalanceMonitorEventBalance",
    "BalanceMonitorEventOperator",
    "BalanceResponse",
    "BalanceResponseByType0",
    "BalanceResponseNormalSide",
    "BalanceSheetCategory",
    "BalanceSheetLine",
    "BalanceSheetOwner",
    "BalanceSheetReport",
    "BalanceSheetTotal",
    "BalanceTransactionListRequest",
    "BalanceTransactionRequest",
    "BatchEntryRequest",
    "BatchEntryRequestMetadata",
    "BatchItemResponse",
    "BatchItemResponseProblemType0",
    "BatchItemResponseStatus",
    "CancelEventResponse",
    "CategoryBalanceResponse",
    "CategoryBalanceResponseByType0",
    "CategoryList",
    "CategoryResponse",
    "CategoryResponseMetadata",
    "CategoryResponseNormalSide",
    "CheckInRequest",
    "CheckoutItemRequest",
    "CheckoutRequest",
    "CheckoutResponse",
    "CheckpointList",
    "CheckpointResponse",
    "CheckpointResponseScope",
    "CheckpointSealed",
    "CheckpointSealedScope",
    "ConditionRequest",
    "ConditionRequestBalance",
    "ConversionList",
    "ConversionResponse",
    "ConvertRequest",
    "ConvertRequestMetadata",
    "CoveredEntry",
    "CreateCategoryRequest",
    "CreateCategoryRequestCurrency",
    "CreateCategoryRequestMetadata",
    "CreateCategoryRequestNormalSide",
    "CreateEndpointRequest",
    "CreateEventRequest",
    "CreateEventRequestCurrency",
    "CreateHoldRequest",
    "CreateHoldRequestMetadata",
    "CreateMonitorRequest",
    "CreateMonitorRequestBalance",
    "CreateMonitorRequestOperator",
    "CreateOrganizationRequest",
    "CreateSettlementRequest",
    "CreateSettlementRequestMetadata",
    "DeliveryList",
    "DeliveryResponse",
    "DeliveryResponseChannel",
    "DeliveryResponseStatus",
    "DisableEndpointRequest",
    "DryRunResponse",
    "DryRunResponseResult",
    "EndpointCreatedResponse",
    "EndpointDisabled",
    "EndpointDisabledWebhook",
    "EndpointList",
    "EndpointResponse",
    "EntryBatchRequest",
    "EntryBatchResponse",
    "EntryLineResponse",
    "EntryLineResponseSide",
    "EntryList",
    "EntryResponse",
    "EntryResponseKind",
    "EntryResponseMetadata",
    "EscrowList",
    "EscrowPositionReport",
    "EscrowPositionRow",
    "EscrowReleased",
    "EscrowReleasedWebhook",
    "EscrowResponse",
    "EscrowStateChanged",
    "EscrowStateChangedWebhook",
    "EscrowTransitionList",
    "EscrowTransitionResponse",
    "EventResponse",
    "ExpandedSource",
    "FxRateResponse",
    "HealthResponse",
    "HoldEvent",
    "HoldEventMetadata",
    "HoldEventStatus",
    "HoldResponse",
    "HoldResponseStatus",
    "InboxHealthRow",
    "IncomeStatementLine",
    "IncomeStatementOwner",
    "IncomeStatementReport",
    "IncomeStatementTotal",
    "IntentCancelRequested",
    "IntentCancelRequestedIntentMetadata",
    "LedgerBalanceMonitorRecoveredWebhook",
    "LedgerBalanceMonitorTriggeredWebhook",
    "LedgerCheckpointSealedWebhook",
    "LedgerGetBalanceBy",
    "LedgerGetCategoryBy",
    "LedgerHoldCreatedWebhook",
    "LedgerHoldExpiredWebhook",
    "LedgerHoldPostedWebhook",
    "LedgerHoldVoidedWebhook",
    "LedgerListCategoriesCurrencyType0",
    "LineRequest",
    "LineRequestSide",
    "MembersRequest",
    "MismatchResponse",
    "Money",
    "MoneyCurrency",
    "MonitorList",
    "MonitorResponse",
    "MonitorResponseBalance",
    "MonitorResponseOperator",
    "OpenAccountRequest",
    "OpenAccountRequestCurrency",
    "OpenAccountRequestMetadata",
    "OpenAccountRequestType",
    "OrderCancelledWebhook",
    "OrderDisputedWebhook",
    "OrderEvent",
    "OrderPaidWebhook",
    "OrderRefundedWebhook",
    "OrderResponse",
    "OrganizationList",
    "OrganizationResponse",
    "OrganizerStatementReport",
    "OutboxHealthReport",
    "OutboxHealthRow",
    "PostEntryRequest",
    "PostEntryRequestMetadata",
    "PostHoldRequest",
    "Problem",
    "ReadyResponse",
    "ReconciliationRow",
    "ReconciliationRowStatus",
    "RefundRequest",
    "RefundRequested",
    "RefundResponse",
    "ReleaseDueResponse",
    "ReleaseStep",
    "RequeueResponse",
    "ReverseEntryRequest",
    "ReverseEntryRequestMetadata",
    "RotateSecretRequest",
    "SecretResponse",
    "SetFxRateRequest",
    "SettlementEntries",
    "SettlementList",
    "SettlementResponse",
    "SettlementResponseMetadata",
    "StatementBalance",
    "StatementEvent",
    "StatementLineResponse",
    "StatementLineResponseSide",
    "StatementMovement",
    "StatementMovementCategory",
    "StatementResponse",
    "StatementSales",
    "StatementTicketType",
    "StatementTieOut",
    "StatementTieOutKind",
    "StatementTransfer",
    "StripePaymentIntentCancelRequestedWebhook",
    "StripeReconciliationReport",
    "StripeRefundRequestedWebhook",
    "StripeTransferRequestedWebhook",
    "StripeTransferReversalRequestedWebhook",
    "StripeWebhookBody",
    "StripeWebhookResponse",
    "TicketCancelledWebhook",
    "TicketCheckedInWebhook",
    "TicketEvent",
    "TicketInvalidatedWebhook",
    "TicketIssuedWebhook",
    "TicketRefundedWebhook",
    "TicketResponse",
    "TicketTieOutReport",
    "TicketTieOutRow",
    "TicketTransferredWebhook",
    "TicketTypeRequest",
    "TicketTypeResponse",
    "TransferCoverage",
    "TransferRequested",
    "TransferReversalRequested",
    "TransferTicketRequest",
    "TrialBalanceOrganizationTotal",
    "TrialBalanceReportResponse",
    "TrialBalanceResponse",
    "TrialBalanceRowResponse",
    "TrialBalanceTotal",
    "VerificationResponse",
    "WebhooksListDeliveriesStatusType0",
)
