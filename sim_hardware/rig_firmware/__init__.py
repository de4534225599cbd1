# The HIL rig controller (docs/hil.md): MicroPython for an RP2040. rig.py and
# measure.py are pure and tested on CPython and the MicroPython VM; main.py,
# hal_rp2040.py and pio_timer.py run on the rig. Copy the files to the board's
# root: mpremote cp sim_hardware/rig_firmware/{main,rig,measure,hal_rp2040,pio_timer}.py :
