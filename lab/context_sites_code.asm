; lab/context_sites_code.asm — the live patch sites that the NMI, #MC and
; IRQ paths run on every entry (see lab/context_sites.h).
;
; *_site_run — one site: a 5-byte call to the "a" or "b" counter.
;   IN: nothing. OUT: nothing. Clobbers: nothing but flags (the counters
;   are this CPU's own, lab_cpu[cpu]: an INC needs no lock).
;   Note: the site indices (SITE_*, CTX_VARIANT_*) and the layout of
;   struct lab_cpu come from C through asm-offsets.inc.

%include "asm-offsets.inc"

extern lab_cpu                          ; lab/context_sites.c

section .text

; name, index into lab_cpu[].site_hits (SITE_*)[, a routine to tail-call
; after the site instead of returning]
%macro CONTEXT_SITE 2-3
global %1_site_run, %1_site, count_%1_a, count_%1_b
%1_site_run:
%1_site:
        call count_%1_a
%if %0 == 3
        jmp %3
%else
        ret
%endif
count_%1_a:
        COUNT_HIT %2, CTX_VARIANT_A
        ret
count_%1_b:
        COUNT_HIT %2, CTX_VARIANT_B
        ret
%endmacro

%macro COUNT_HIT 2                      ; site, variant: ++lab_cpu[this CPU].site_hits[site][variant]
        push rax
        mov eax, [gs:PC_CPU]
        imul eax, eax, LAB_CPU_SIZE
        inc qword [rax + lab_cpu + LAB_SITE_HITS + LAB_SITE_HITS_PER_SITE * %1 + LAB_SITE_HITS_PER_VARIANT * %2]
        pop rax
%endmacro

CONTEXT_SITE nmi, SITE_NMI, nmi_value_run
CONTEXT_SITE mce, SITE_MCE, mce_value_run
CONTEXT_SITE irq, SITE_IRQ

; VALUE_SITE name — the value site <name>_value_run (lab/context_sites.h):
; a 5-byte "mov eax, imm32" holding VALUE_A or VALUE_B, whose every byte
; differs; counts lab_cpu[cpu].value_hits[VALUE_GOT_A, VALUE_GOT_B or
; VALUE_TORN] (shared by the value sites), and keeps the last torn value in
; value_torn.
;   IN: nothing. OUT: nothing. Clobbers: nothing but flags.
%macro VALUE_SITE 1
global %1_value_run, %1_value_site
%1_value_run:
        push rax
        push rdx
%1_value_site:
        mov eax, strict dword VALUE_A   ; the site: b8 imm32
        jmp value_count
%endmacro

VALUE_SITE nmi                          ; run by every NMI, after its call site
VALUE_SITE mce                          ; run by every #MC, after its call site

; value_count — the value sites' tail: EAX = the value the site gave, RAX
; and RDX pushed by the site's entry.
value_count:
        mov edx, [gs:PC_CPU]
        imul edx, edx, LAB_CPU_SIZE
        cmp eax, VALUE_A
        je .a
        cmp eax, VALUE_B
        je .b
        mov [rdx + lab_cpu + LAB_VALUE_TORN], eax
        inc qword [rdx + lab_cpu + LAB_VALUE_HITS + LAB_VALUE_HIT_SIZE * VALUE_TORN]
        jmp .out
.a:     inc qword [rdx + lab_cpu + LAB_VALUE_HITS + LAB_VALUE_HIT_SIZE * VALUE_GOT_A]
        jmp .out
.b:     inc qword [rdx + lab_cpu + LAB_VALUE_HITS + LAB_VALUE_HIT_SIZE * VALUE_GOT_B]
.out:   pop rdx
        pop rax
        ret
