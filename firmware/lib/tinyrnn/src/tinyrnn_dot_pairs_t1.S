/* Thumb-1 (Cortex-M0/M0+) dot product of the packed kernels (tinyrnn_lstm_packed.h,
 * tinyrnn_dot_pairs): in plain assembly because inline asm cannot get the nine registers it
 * needs on Thumb-1 (operands are confined to r0-r7).
 *
 *   void tinyrnn_dot_pairs_t1(const int16_t *w, const int32_t *x, uint32_t np, int32_t acc[4]);
 *
 * Reference semantics: for k < np, with x[2k], x[2k+1] the int32 (doubled) inputs of pair k and
 * w[4k..4k+3] = p00, p01, p10, p11 its int16 weight halfwords (p = 256*B + A, A = (int8)p):
 *   acc[1] += p00*x0 + p01*x1;  acc[0] += A00*x0 + A01*x1   (gate pair 0)
 *   acc[3] += p10*x0 + p11*x1;  acc[2] += A10*x0 + A11*x1   (gate pair 1)
 * all modulo 2^32, exactly the portable scalar loop's sums. 28 instructions per 8 MACs. */
#if defined(__thumb__) && !defined(__thumb2__)
    .syntax unified
    .thumb
    .text
    .align 1
    .global tinyrnn_dot_pairs_t1
    .type tinyrnn_dot_pairs_t1, %function
    .thumb_func
tinyrnn_dot_pairs_t1:
    push {r4, r5, r6, r7, lr}
    mov r4, r8
    mov r5, r9
    mov r6, r10
    push {r3, r4, r5, r6}       /* acc pointer and the callee-saved r8-r10 */
    ldr r7, [r3, #0]            /* r7 = A0, r8 = AB0, r9 = A1, r10 = AB1 */
    ldr r4, [r3, #4]
    mov r8, r4
    ldr r4, [r3, #8]
    mov r9, r4
    ldr r4, [r3, #12]
    mov r10, r4
    cmp r2, #0
    beq 2f
1:
    ldm r1!, {r3, r4}           /* x0, x1 */
    ldm r0!, {r5}               /* p00 | p01 << 16 */
    sxth r6, r5
    muls r6, r3, r6
    add r8, r6
    sxtb r6, r5
    muls r6, r3, r6
    adds r7, r7, r6
    asrs r5, r5, #16
    sxtb r6, r5
    muls r6, r4, r6
    adds r7, r7, r6
    muls r5, r4, r5
    add r8, r5
    ldm r0!, {r5}               /* p10 | p11 << 16 */
    sxth r6, r5
    muls r6, r3, r6
    add r10, r6
    sxtb r6, r5
    muls r6, r3, r6
    add r9, r6
    asrs r5, r5, #16
    sxtb r6, r5
    muls r6, r4, r6
    add r9, r6
    muls r5, r4, r5
    add r10, r5
    subs r2, #1
    bne 1b
2:
    pop {r3, r4, r5, r6}
    str r7, [r3, #0]
    mov r7, r8
    str r7, [r3, #4]
    mov r7, r9
    str r7, [r3, #8]
    mov r7, r10
    str r7, [r3, #12]
    mov r8, r4
    mov r9, r5
    mov r10, r6
    pop {r4, r5, r6, r7, pc}
    .size tinyrnn_dot_pairs_t1, . - tinyrnn_dot_pairs_t1
#endif
