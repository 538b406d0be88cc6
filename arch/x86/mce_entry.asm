; arch/x86/mce_entry.asm — the #MC entry stub (vector 18): its frame leaves
; the #MC IST stack before anything can clear MCIP, so that machine checks
; may nest.
;
; #MC arrives on IST_MCE (arch/x86/idt.c). The handler clears
; MCG_STATUS.MCIP early (arch/x86/mce.c), and from then on the next #MC may
; come at any moment, starting again at the top of that same IST stack. So,
; as Linux's NMI entry copies its frame for nesting, this stub builds
; struct regs (arch/x86/regs.h) on the IST stack, copies all of it (the 15
; GPRs, vector, error code and the CPU's 5-word frame) to below the
; interrupted RSP, moves RSP onto the copy and joins isr_common
; (arch/x86/entry.asm) at isr_regs_built. IRETQ, or the return without IRET,
; then works from the moved frame, and a nested #MC gets a fresh IST stack.
;
;   #MC IST stack                     interrupted stack (thread, NMI IST, #DF IST)
;   -------------                     ---------------------------------------
;   SS RSP RFLAGS CS RIP (CPU)        RSP_int ->  its data (live, untouched)
;   error 0, vector 18                            MCE_GAP: the two words a
;   R15 .. RAX  <- RSP                            return without IRET writes
;         \________ REP MOVSQ ______>             (alignment to 16)
;                                                 struct regs  <- RSP, then C
;
; The interrupted context may be anything: thread code, an IRQ or exception
; handler and its stubs (their live data is at or above RSP, even mid-way
; through an ISR_GAP copy, which lowers RSP first), the NMI handler or its
; entry/exit stubs on the NMI IST stack (the #MC handler then runs on that
; stack, below them; NMIs stay blocked: it returns without IRET), the #BP
; handler, another #MC handler after its move (this one lands below it), a
; return without IRET between its two stores and its RET (the stored words
; lie above its RSP, so above RSP_int). Timeline, one CPU:
;
;   hardware           isr_mce (IST)          mce_handle (moved)             next #MC
;   --------           -------------          ------------------             --------
;   MCIP = 1, #MC ---> frame + GPRs
;                      mce_frame_dest():
;                        RSP_int checked
;                      copy below RSP_int
;                      RSP = the copy ------> read, clear banks
;                                             MCG_STATUS = 0 (MCIP = 0) ---> may arrive from here on:
;                                             site, grade, log, ...          fresh IST frame, moved
;                                                                            below this handler's RSP;
;                                             <----------------------------- handled, returns
;                                             IRETQ / POPFQ;RET from the moved frame
;
; A #MC before the move would be one taken with MCIP still set, which the
; hardware turns into a shutdown (QEMU resets the guest, or drops the
; error). The one other way in is a real #MC on top of a software INT 18
; (no MCIP) that has not moved yet: mce_frame_dest() then finds RSP_int
; inside the #MC IST stack and stops the machine by name.
;
; isr_mce — vector 18's IDT entry.
;   IN:  the CPU's frame on the #MC IST stack, interrupts off
;   OUT: joins isr_regs_built with RSP = the moved struct regs (16-aligned)
;   Note: no lock, nothing patchable (no-patch region, linker.ld); calls only
;   mce_frame_dest() before the move. RSI, RDI, RCX and RAX are clobbered
;   after the GPRs were saved in the frame.

%include "asm-offsets.inc"
%include "arch/x86/entry.inc"

extern mce_frame_dest                   ; arch/x86/mce.c
extern isr_regs_built                   ; arch/x86/entry.asm

section .text
global isr_mce
align 16
isr_mce:
        push qword 0                    ; error code (#MC pushes none)
        push qword 18                   ; vector
        PUSH_GPRS                       ; struct regs complete, on the IST stack;
                                        ; RSP 16-aligned: the CPU aligned it, and
                                        ; struct regs is 11 x 16 bytes
        cld                             ; for C, and for REP MOVSQ below
        mov rdi, rsp                    ; struct regs * (on the IST stack)
        call mce_frame_dest             ; RAX = where it goes (16-aligned), or
                                        ; the machine stops there, by name
        mov rsi, rsp                    ; copy the whole frame, first word first,
        mov rdi, rax                    ; from the IST stack to its new place
        mov ecx, REGS_SIZE / 8          ; (another stack: never overlapping)
        rep movsq
        mov rsp, rax                    ; only now, with the copy complete, switch:
                                        ; the IST stack is free from here on
        jmp isr_regs_built              ; trap_dispatch, then IRETQ or POPFQ;RET
