// The states of a payment, exactly as the paper names them, and the transitions QR-Pay allows.
//
//   request ──approve──▶ accept ──hold passes──▶ finish
//      │                   │
//      ├──shop cancels──▶ cancel ◀──shop cancels during the hold
//      └──expiry passes──▶ expire


package enum PaymentState: String, Sendable, CaseIterable, Codable {
    case request, accept, finish, cancel, expire

    package var isFinal: Bool { self == .finish || self == .cancel || self == .expire }

    package func canMove(to next: PaymentState) -> Bool {
        switch (self, next) {
        case (.request, .accept), (.request, .cancel), (.request, .expire),
             (.accept, .finish), (.accept, .cancel):
            return true
        default:
            return false
        }
    }
}
