"""The gateway: one OCPP Charging Station made of firmware controllers over the link (DESIGN §1)."""
