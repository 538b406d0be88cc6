; strategies/ool/ool_slots.asm — the out-of-line strategy's slot area and
; the way out of every copy in it (strategies/ool/ool.c, ool_reloc.h). In
; the no-patch region (Makefile: NOPATCH_OBJS), so no patch site can ever
; lie here, and lint reads it with the rest of the region.
;
; The area is OOL_AREA_SIZE bytes of int3 at boot, page-aligned and whole
; pages, so that rewriting it (through text_poke_many, before each batch's
; first int3) never shares a page with other code: under TCG every write
; to a page discards its translations. A batch's copies are written from
; its start; a CPU gets there only from the #BP handler (ool_trap.c),
; holding one more pin on the batch, and leaves through ool_exit.

%include "asm-offsets.inc"

section .text

; ool_exit — the way out of every copy: drop the pin the #BP handler added
; (patch/live.c: live_batch_hold) and go where the copy said.
;   IN:  [rsp] = where to continue (the site's end, a branch target, or, for
;        a copy of ret, the return address the ret would have popped).
;   OUT: RIP = that address, popped; every register and RFLAGS as the copy
;        left them.
;   Context: whatever ran the site (thread, IRQ, NMI, #MC, nested in any);
;   it takes no lock, calls nothing, and touches only this CPU's pin word.
;   Note: up to the locked subtraction the CPU still executes bytes of the
;   slot area, and the batch cannot retire (live_retire waits for this pin);
;   after it, only these four instructions, which nobody rewrites. PUSHFQ
;   and POPFQ keep the copy's flags (a cmp's) from the SUB; POPFQ restores
;   the IF and TF it saved, i.e. the same ones.
global ool_exit
ool_exit:
        pushfq
        lock sub dword [gs:PC_LIVE_PIN], LIVE_PIN_ONE   ; the pin: release, and a full barrier
        popfq
        ret

; The area itself, in a section of its own for the page alignment.
section .text.ool_slots progbits alloc exec nowrite align=4096
global ool_slot_area, ool_slot_area_end
ool_slot_area:
        times OOL_AREA_SIZE db 0xcc
ool_slot_area_end:
