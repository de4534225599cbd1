# Board support: base.py is the Board contract (DESIGN §3.1); esp32.py, rp2040.py implement it.
