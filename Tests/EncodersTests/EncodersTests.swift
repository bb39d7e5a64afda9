// Tests of the Encoders module (Tests/<Module>Tests mirrors Sources/<Module>).
