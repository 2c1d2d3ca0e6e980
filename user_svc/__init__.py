"""user_svc: id tokens (RFID cards, app accounts, ...) and the Authorize decisions on them."""
