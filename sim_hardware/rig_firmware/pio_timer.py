# ruff: noqa: F821  (the PIO assembler's names: wait, pin, mov, x, jmp, ... exist
# only inside @rp2.asm_pio)
# The pilot comparator's half-periods counted by a PIO state machine
# (docs/hil.md, "Measuring the pilot"), for hal_rp2040.py. RP2040 only.
import rp2


@rp2.asm_pio(fifo_join=rp2.PIO.JOIN_RX)
def half_periods():
    # Pushes the loop counts of the positive and then the negative half of
    # every other PWM period; each loop takes two cycles. A blocking push keeps
    # the two words in order (a count cut short by a full FIFO makes no 1 kHz
    # period and measure.duty_from_counts drops it).
    wrap_target()
    wait(0, pin, 0)
    wait(1, pin, 0)  # a rising edge: the positive plateau starts
    mov(x, invert(null))
    label("high")
    jmp(x_dec, "high_next")
    label("high_next")
    jmp(pin, "high")
    mov(isr, invert(x))
    push(block)
    mov(x, invert(null))
    label("low")
    jmp(pin, "end")
    jmp(x_dec, "low")
    label("end")
    mov(isr, invert(x))
    push(block)
    wrap()
