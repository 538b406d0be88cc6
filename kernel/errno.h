/*
 * kernel/errno.h — error codes returned (negated) by kernel functions.
 * Values follow Linux where one exists.
 */
#ifndef XPOKE_KERNEL_ERRNO_H
#define XPOKE_KERNEL_ERRNO_H

#define EIO         5
#define ENOMEM      12
#define EBUSY       16
#define ENODEV      19
#define EINVAL      22
#define ERANGE      34
#define ETIMEDOUT   110
#define EABORTED    1000        /* work abandoned after a panic or an abort */
#define EREPORTED   1001        /* failed, and already said why (the shell prints nothing more) */

const char *errno_name(int err);        /* "ETIMEDOUT" for -110 or 110 */

#endif
