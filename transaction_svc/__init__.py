"""transaction_svc: charging transactions, folded from the TransactionEvents stations send."""
