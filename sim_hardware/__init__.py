# Emulated hardware: the sim board (sim_board.py) implements the firmware's Board contract.
