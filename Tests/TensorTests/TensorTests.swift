// Tests of the Tensor module (Tests/<Module>Tests mirrors Sources/<Module>).
