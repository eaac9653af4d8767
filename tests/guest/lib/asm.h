/* Selectors of the guest library's GDT (boot.S). */
#ifndef GUEST_ASM_H
#define GUEST_ASM_H
#define SEL_KCODE64 0x08
#define SEL_KDATA 0x10
#define SEL_KCODE32 0x18
#define SEL_KDATA32 0x20
#define SEL_CODE16 0x28
#define SEL_DATA16 0x30
#define SEL_UCODE32 0x38
#define SEL_UDATA 0x40
#define SEL_UCODE64 0x48
#define SEL_TSS 0x50
#define SEL_FREE 0x60
#endif
