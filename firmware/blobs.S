/* blobs.S - the model and input files embedded in flash, 16-byte aligned
 * (the device loader maps the model's records in place). */
    .section .rodata.tl_blobs, "a"
    .balign 16
    .global tl_model_blob, tl_model_blob_end
tl_model_blob:
    .incbin TL_MODEL_FILE
tl_model_blob_end:
    .balign 16
    .global tl_input_blob, tl_input_blob_end
tl_input_blob:
    .incbin TL_INPUT_FILE
tl_input_blob_end:
