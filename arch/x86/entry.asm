; arch/x86/entry.asm — the 256 interrupt/exception entry stubs, and the two
; ways back out.
;
; Each stub makes the CPU frame uniform (pushes a zero error code where the
; CPU pushes none), pushes its vector and joins isr_common, which saves every
; general-purpose register to complete a struct regs (arch/x86/regs.h) and
; calls trap_dispatch(struct regs *) (arch/x86/traps.c). On return the
; registers are reloaded from the frame, so a handler may rewrite any of
; them (and rip/rsp/rflags).
;
; Stack alignment: the CPU aligns RSP to 16 before pushing its 5-qword frame;
; error + vector + 15 GPRs make 17 more qwords, so RSP is 16-byte aligned at
; "call trap_dispatch", as the SysV ABI wants.
;
; NMI (2), #MC (18) and #DF (8) arrive on their IST stacks (arch/x86/idt.c).
; #MC has its own stub (arch/x86/mce_entry.asm): it moves its frame off the
; IST stack, below the interrupted RSP, and joins isr_common at
; isr_regs_built, so that a #MC can nest in a #MC handler.
;
; Nested NMIs, and why some returns avoid IRET
; --------------------------------------------
; An NMI blocks further NMIs until the next IRET, whatever that IRET returns
; from. If the NMI handler takes an exception (a #BP at a patch site being
; patched, for instance) and that exception returns with IRET, NMIs are
; unblocked while the NMI handler is still running on its IST stack; the
; next NMI then starts at the top of the same IST stack and overwrites the
; first one's frame. The same holds for a #MC that interrupts an NMI handler.
;
; xpoke's scheme: never IRET into a context that runs with NMIs blocked.
; trap_dispatch() returns non-zero when the interrupted context had NMIs
; blocked (and no recovery is under way): it was running on this CPU's NMI
; IST stack (the NMI handler, its entry and exit stubs included), or inside
; a handler already taken with NMIs blocked (a #BP in a #MC that hit an NMI).
; The exit path then returns with POPFQ; RET on the interrupted stack:
;
;   NMI handler (IST1)         #BP handler (same stack)       next NMI
;   ------------------         ------------------------       --------
;   runs a patch site's int3
;                         -->  emulate; sync_core()
;                              put RFLAGS, RIP below the
;                              interrupted RSP; restore
;                              GPRs; RSP = that; POPFQ; RET
;   <--  continues, NMIs still blocked                        stays pending
;   IRET (its own) ------------------------------------------> delivered now,
;                                                             on a free IST1
;
; RET is not serializing, so trap_dispatch() serializes before it returns
; (the patch core's rendezvous relies on a serializing event between a
; CPU's acknowledgement and its next patched instruction).
;
; The words written below the interrupted RSP must not be live: the stubs of
; all non-IST exceptions therefore first move the CPU's frame EXC_GAP bytes
; lower (the #BP emulation of "call" writes there too). The #MC stub moves its
; frame below the interrupted RSP with the same two words left clear
; (MCE_GAP, arch/x86/mce.c). Interrupts
; (vectors >= 32) keep their frame where the CPU pushed it, right below the
; interrupted RSP; they meet NMIs blocked only as a software INT n in an NMI
; handler (IF is clear there), and .return_without_iret copes with the two
; words being that frame's own. (The negative control nmi.unsafe_iret=1,
; arch/x86/nmi.c, turns the scheme off to prove the storm tests hit the
; hazard.)

%include "asm-offsets.inc"
%include "arch/x86/entry.inc"

extern trap_dispatch
extern isr_mce                          ; arch/x86/mce_entry.asm: vector 18
global isr_regs_built

; Vectors for which the CPU pushes an error code.
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)
; Vectors delivered on an IST stack (arch/x86/idt.c).
%define ON_IST(v) ((v) == 2 || (v) == 8 || (v) == 18)

; Room left below the interrupted RSP: an emulated push (8 bytes) plus the
; RFLAGS and RIP of a return without IRET (16), rounded to keep 16-byte
; alignment, and at least the size of the frame being moved (48).
EXC_GAP equ 48

section .text

; An interrupt, or an IST exception: the frame stays where the CPU put it.
%macro ISR_PLAIN 1
align 16
isr_%1:
%if HAS_ERROR(%1) == 0
        push qword 0
%endif
        push qword %1
        jmp isr_common
%endmacro

; A non-IST exception: copy the CPU's frame EXC_GAP bytes lower first.
;   before                           after
;   RSP_int -> caller's data         RSP_int -> caller's data
;              [align] SS RSP RFL CS RIP [ERR]     dead space (the old
;                                  <- RSP          frame), EXC_GAP bytes
;                                                  SS RSP RFL CS RIP [ERR]
%macro ISR_GAP 1
align 16
isr_%1:
%if HAS_ERROR(%1)
%assign words 6
%else
%assign words 5
%endif
        sub rsp, EXC_GAP
        push rax                        ; scratch; the copy starts at RSP + 8
%assign w 0
%rep words
        mov rax, [rsp + 8 + EXC_GAP + 8 * w]
        mov [rsp + 8 + 8 * w], rax
%assign w w + 1
%endrep
        pop rax
%if HAS_ERROR(%1) == 0
        push qword 0
%endif
        push qword %1
        jmp isr_common
%endmacro

%assign v 0
%rep 256
%if v == 18
                                        ; #MC: its own stub, isr_mce
%elif v < 32 && ON_IST(v) == 0
ISR_GAP v
%else
ISR_PLAIN v
%endif
%assign v v + 1
%endrep

align 16
isr_common:
        PUSH_GPRS
isr_regs_built:                         ; struct regs complete at RSP (isr_mce joins here)
        cld                             ; the ABI wants DF clear in C
        mov rdi, rsp                    ; struct regs *
        call trap_dispatch
        test eax, eax
        jnz .return_without_iret
        POP_GPRS
        add rsp, 16                     ; vector, error code
        iretq

; Back into a context that runs with NMIs blocked (see the top of the file).
; The interrupted context is at CPL 0 with SS = KERNEL_DS, so only RIP, RSP
; and RFLAGS need restoring: RFLAGS and RIP go into the two words below the
; interrupted RSP (RSP_int), and POPFQ; RET take them from there.
;
; Those two words may belong to this very frame: an interrupt's frame (any
; vector >= 32, the stub does not move it) is where the CPU pushed it, right
; below RSP_int, aligned down to 16:
;
;   RSP_int 16-aligned          RSP_int 8 mod 16
;   RSP_int-8   SS              RSP_int-8   (alignment padding)
;   RSP_int-16  RSP             RSP_int-16  SS
;   RSP_int-24  RFLAGS          RSP_int-24  RSP
;   ...                         ...
;   vector, error code, GPRs    vector, error code, GPRs
;
; So RIP, RFLAGS and RSP are read into registers before anything is written
; there, and the stack to switch to is kept in the vector slot, which lies
; below the CPU's frame (at most RSP_int-56) whatever the frame. (Moved
; exception and #MC frames lie lower still; an IST frame of another stack
; is disjoint from them.)
;
; RF: POPFQ cannot set RF, so a saved RF=1 is dropped here. RF only keeps a
; debug-register instruction breakpoint at the return address from firing
; again; xpoke never arms one (nothing writes DR7, and QEMU's gdb stub does
; not use them), so dropping it changes nothing.
; TF: a TF that POPFQ sets traps after the RET, at the return address before
; its instruction has run, where IRET would trap after it; and the #DB that
; single-stepping raises would itself need this path. trap_dispatch()
; refuses both by name instead: a return without IRET with TF in the saved
; RFLAGS, and any #DB taken with NMIs blocked (arch/x86/traps.c).
.return_without_iret:
        mov rax, [rsp + REGS_RSP]       ; read all three first: the two words
        mov rcx, [rsp + REGS_RFLAGS]    ; written below may be this frame's
        mov rdx, [rsp + REGS_RIP]       ; own RSP and SS slots
        sub rax, 16                     ; RAX = RSP_int - 16
        mov [rsp + REGS_VECTOR], rax    ; the stack to switch to, out of reach
        mov [rax], rcx                  ;   [RSP_int-16] = RFLAGS
        mov [rax + 8], rdx              ;   [RSP_int-8]  = RIP
        POP_GPRS                        ; RSP is at the vector slot now
        mov rsp, [rsp]                  ; RSP = RSP_int - 16
        popfq                           ; RFLAGS (IF stays as it was; RF drops)
        ret                             ; RIP; NMIs are still blocked

section .rodata
global isr_stub_table
align 8
isr_stub_table:
%assign v 0
%rep 256
%if v == 18
        dq isr_mce
%else
        dq isr_ %+ v
%endif
%assign v v + 1
%endrep
