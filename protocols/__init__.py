# Sans-IO codecs in the MicroPython subset, shared by the firmware and the gateway.
