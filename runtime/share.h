/* share.h -- the threads of one request: while a pool is given to
 * rt_share_begin, the calling thread's large GEMMs are split among the pool's
 * threads (kernels.c splits each by columns, the pool runs the parts), so a
 * single batch-1 call uses every core. */
#ifndef RT_SHARE_H
#define RT_SHARE_H

#include "pool.h"

/* From now on, this thread's GEMMs whose weight has at least 65,536 elements
 * run on p's threads; NULL: on this thread alone again. */
void rt_share_begin(RtPool *p);

#endif
