#!/usr/bin/env python3
"""Prints the constants of csrc/ember_math.h and csrc/ember_math.c, computed exactly in integer
arithmetic (no libm, no mpmath): the bits of 2/pi for the Payne-Hanek reduction (64 to a
word, after a word of zeros), pi/2 in three parts of <= 33 significant bits (k * part is exact
for |k| < 2^20), the rest of pi/2 after the double nearest to it, and ln 2 in a 32-bit high
part plus a double low part.

    python3 scripts/make_math_tables.py
"""
from fractions import Fraction
import math

BITS = 1400


def arctan_inv(x, one):
    """arctan(1/x) * one, by its Taylor series in integers."""
    total = term = one // x
    x2, n, sign = x * x, 1, -1
    while term:
        term //= x2
        n += 2
        total += sign * (term // n)
        sign = -sign
    return total


one = 1 << (BITS + 64)
pi_scaled = 4 * (4 * arctan_inv(5, one) - arctan_inv(239, one))   # Machin: pi * one
two_over_pi = (2 * one * one) // pi_scaled                         # 2/pi * one
bits = two_over_pi >> 64                                           # 2/pi * 2^BITS
words = [0] + [(bits >> (BITS - 64 * (w + 1))) & ((1 << 64) - 1) for w in range(20)]
print("two_over_pi_bits[21] = {")
for i in range(0, len(words), 4):
    print("    " + ", ".join("0x%016XULL" % w for w in words[i:i + 4]) + ",")
print("};")

pio2 = Fraction(pi_scaled, 2 * one)
rest = pio2
for i in range(3):
    e = math.floor(math.log2(abs(rest)))
    part = Fraction(round(rest * 2 ** (32 - e)), 2 ** (32 - e))
    assert Fraction(float(part)) == part
    print("EM_PIO2_%d %s" % (i + 1, float(part).hex()))
    rest -= part
print("EM_PIO2 %s, next bits %s" % (float(pio2).hex(), float(pio2 - Fraction(float(pio2))).hex()))
print("EM_2_PI %s" % float(Fraction(two_over_pi, one)).hex())

ln2 = Fraction(sum((1 << 300) // (k << k) for k in range(1, 300)), 1 << 300)   # sum 1/(k 2^k)
hi = Fraction(round(ln2 * 2 ** 32), 2 ** 32)
print("EM_LN2 %s EM_LN2_HI %s EM_LN2_LO %s EM_LOG2E %s" % (
    float(ln2).hex(), float(hi).hex(), float(ln2 - hi).hex(), float(1 / ln2).hex()))
