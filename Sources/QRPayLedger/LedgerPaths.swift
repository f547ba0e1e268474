// The ledger's paths that depend on what a payment is (its state, its creation day, its marker
// name). The spool layer spells every other path (SpoolLayout); these build on its directories.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPayments

extension SpoolLayout {
    /// pg/paid/DAY/MARKER: a finished payment already paid out.
    package func paidPath(info: PaymentInfo) -> String {
        paidDirectory(day: Timestamp.day(info.created)) + "/"
            + StateMarker.name(shop: info.shop, payment: info.payment, currency: info.currency.code, total: info.total)
    }

    /// pg/unpaid/DAY/MARKER: a finished payment not yet paid out (the payout's index).
    package func unpaidPath(info: PaymentInfo) -> String {
        unpaidDirectory(day: Timestamp.day(info.created)) + "/"
            + StateMarker.name(shop: info.shop, payment: info.payment, currency: info.currency.code, total: info.total)
    }

    package func stateDirectory(_ state: PaymentState) -> String { statesDirectory + "/" + state.rawValue }
    package func stateDirectory(_ state: PaymentState, day: String) -> String { stateDirectory(state) + "/" + day }
    /// pg/states/STATE/DAY/SHOP~PAYMENT~CUR~TOTAL (DAY: the payment's UTC creation day).
    package func markerPath(state: PaymentState, info: PaymentInfo) -> String {
        stateDirectory(state, day: Timestamp.day(info.created)) + "/"
            + StateMarker.name(shop: info.shop, payment: info.payment, currency: info.currency.code, total: info.total)
    }

    /// pg/due/KIND: open payments by the time something becomes due for them (DueIndex).
    package func dueDirectory(_ kind: DueKind) -> String { dueDirectory + "/" + kind.rawValue }
}
